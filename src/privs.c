/*
 * privs.c - leaving root after start-up, and checking what the configured
 * user may read.
 *
 * Main thread only, before any other thread is started (privs_drop) or in
 * `tessera -t`, which starts none (privs_check_files forks).  The
 * capability calls are the raw system calls (capget/capset, prctl) rather
 * than libcap: three calls do not justify a dependency, and libcap's
 * cap_set_proc is per-thread as well, so it would not spare the ordering
 * rule in privs.h.
 */
#include "privs.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

/* The highest capability number tried when limiting the bounding set;
 * PR_CAPBSET_READ says EINVAL past the kernel's own last one. */
#define PRIVS_CAP_MAX 63

static int
privs_capget(struct __user_cap_data_struct data[2])
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};

    return (int)syscall(SYS_capget, &hdr, data);
}

/* Permitted and effective: CAP_NET_BIND_SERVICE only; inheritable: none. */
static int
privs_capset_bind_only(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];

    memset(data, 0, sizeof(data));
    data[CAP_TO_INDEX(CAP_NET_BIND_SERVICE)].permitted = CAP_TO_MASK(CAP_NET_BIND_SERVICE);
    data[CAP_TO_INDEX(CAP_NET_BIND_SERVICE)].effective = CAP_TO_MASK(CAP_NET_BIND_SERVICE);
    return (int)syscall(SYS_capset, &hdr, data);
}

/*
 * Drop every capability but CAP_NET_BIND_SERVICE from the bounding set, so
 * that nothing this process executes could gain more (needs CAP_SETPCAP,
 * so it runs while still root).  Returns 0 or -errno.
 */
static int
privs_limit_bounding_set(void)
{
    for (int cap = 0; cap <= PRIVS_CAP_MAX; cap++) {
        int in = prctl(PR_CAPBSET_READ, (unsigned long)cap, 0, 0, 0);
        if (in < 0) {
            break; /* past the kernel's last capability */
        }
        if (cap == CAP_NET_BIND_SERVICE || in == 0) {
            continue;
        }
        if (prctl(PR_CAPBSET_DROP, (unsigned long)cap, 0, 0, 0) < 0) {
            return -errno;
        }
    }
    return 0;
}

/* Become uid/gid with user's supplementary groups.  NULL, or what failed. */
static const char *
privs_become(const char *user, uid_t uid, gid_t gid)
{
    if (initgroups(user, gid) < 0) {
        return "initgroups";
    }
    if (setresgid(gid, gid, gid) < 0) {
        return "setresgid";
    }
    /* glibc applies it to every thread (its setxid broadcast); there is
     * only this one anyway. */
    if (setresuid(uid, uid, uid) < 0) {
        return "setresuid";
    }
    return NULL;
}

/* After the drop: the ids are the configured ones, root cannot be regained,
 * and CAP_NET_BIND_SERVICE is the only capability.  NULL, or what is wrong. */
static const char *
privs_verify(uid_t uid, gid_t gid)
{
    struct __user_cap_data_struct data[2];
    uid_t ru, eu, su;
    gid_t rg, eg, sg;

    if (getresuid(&ru, &eu, &su) < 0 || ru != uid || eu != uid || su != uid) {
        return "a user id is not the configured one";
    }
    if (getresgid(&rg, &eg, &sg) < 0 || rg != gid || eg != gid || sg != gid) {
        return "a group id is not the configured one";
    }
    /* Both must fail now; if one succeeds the process is root again and
     * start-up stops. */
    if (setuid(0) == 0 || seteuid(0) == 0) {
        return "root could be regained (setuid(0) succeeded)";
    }
    if (gid != 0 && (setgid(0) == 0 || setegid(0) == 0)) {
        return "group root could be regained (setgid(0) succeeded)";
    }
    if (privs_capget(data) < 0) {
        return "capget failed";
    }
    for (int i = 0; i < 2; i++) {
        uint32_t want =
            i == CAP_TO_INDEX(CAP_NET_BIND_SERVICE) ? CAP_TO_MASK(CAP_NET_BIND_SERVICE) : 0;
        if (data[i].effective != want || data[i].permitted != want || data[i].inheritable != 0) {
            return "capabilities other than CAP_NET_BIND_SERVICE are left";
        }
    }
    return NULL;
}

int
privs_drop(const struct config *cfg, struct err *err)
{
    const char *user = cfg->run_as.user;
    uid_t uid = cfg->run_as.uid;
    gid_t gid = cfg->run_as.gid;
    const char *failed;
    int rc;

    if (user == NULL) {
        if (geteuid() == 0) {
            log_warn("running as root: set 'user' (and 'group') in %s so that tessera gives up "
                     "root once its listeners are bound and its keys read",
                     cfg->path);
        }
        return 0;
    }
    if (geteuid() != 0) {
        if (geteuid() != uid || getegid() != gid) {
            log_warn("'user' = \"%s\" is ignored: tessera is not running as root (uid %lu)", user,
                     (unsigned long)geteuid());
        }
        return 0;
    }
    if (uid == 0) {
        log_warn("'user' = \"%s\" is root: tessera keeps every privilege", user);
        return 0;
    }
    rc = privs_limit_bounding_set();
    if (rc < 0) {
        /* A container may withhold CAP_SETPCAP; the drop below still holds. */
        log_warn("cannot limit the capability bounding set: %s", strerror(-rc));
    }
    /* Keep the permitted set across setresuid, so that capset can then keep
     * CAP_NET_BIND_SERVICE (capabilities(7), "Effect of user ID changes"). */
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
        failed = "prctl(PR_SET_KEEPCAPS)";
        goto fail;
    }
    failed = privs_become(user, uid, gid);
    if (failed != NULL) {
        goto fail;
    }
    if (privs_capset_bind_only() < 0) {
        failed = "capset";
        goto fail;
    }
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 ||
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
        failed = "prctl";
        goto fail;
    }
    failed = privs_verify(uid, gid);
    if (failed != NULL) {
        err_set(err, "%s: privileges not dropped to user %s: %s", cfg->path, user, failed);
        return -1;
    }
    log_info("running as user %s (uid %lu), group %s (gid %lu), with CAP_NET_BIND_SERVICE only",
             user, (unsigned long)uid, cfg->run_as.group, (unsigned long)gid);
    return 0;
fail:
    err_set(err, "%s: cannot become user %s, group %s: %s: %s", cfg->path, user, cfg->run_as.group,
            failed, strerror(errno));
    return -1;
}

/* In the child: one warning per file the user cannot open.  Returns the count. */
static int
privs_check_one(const struct config *cfg, FILE *out, const char *place, const char *what,
                const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

    if (fd >= 0) {
        close(fd);
        return 0;
    }
    fprintf(out,
            "%s: warning: %s '%s' is not readable by user %s (group %s): %s; tessera reads it as "
            "root at start-up, but as that user when it reads it again (reload)\n",
            place, what, path, cfg->run_as.user, cfg->run_as.group, strerror(errno));
    return 1;
}

int
privs_check_files(const struct config *cfg, FILE *out)
{
    pid_t pid;
    int status;

    if (cfg->run_as.user == NULL) {
        return 0;
    }
    if (geteuid() != 0 && geteuid() != cfg->run_as.uid) {
        fprintf(out,
                "%s: warning: cannot check which files user %s can read: not running as root or "
                "as that user\n",
                cfg->path, cfg->run_as.user);
        return 0;
    }
    fflush(stdout);
    fflush(out);
    pid = fork();
    if (pid < 0) {
        fprintf(out, "%s: warning: cannot check which files user %s can read: fork: %s\n",
                cfg->path, cfg->run_as.user, strerror(errno));
        return 0;
    }
    if (pid == 0) {
        int n = 0;
        const char *failed = geteuid() == 0 && cfg->run_as.uid != 0
                                 ? privs_become(cfg->run_as.user, cfg->run_as.uid, cfg->run_as.gid)
                                 : NULL;
        if (failed != NULL) {
            fprintf(out, "%s: warning: cannot check which files user %s can read: %s: %s\n",
                    cfg->path, cfg->run_as.user, failed, strerror(errno));
            fflush(out);
            _exit(0);
        }
        n += privs_check_one(cfg, out, cfg->path, "configuration file", cfg->path);
        for (size_t i = 0; i < cfg->nfiles; i++) {
            const struct config_file *f = &cfg->files[i];
            n += privs_check_one(cfg, out, f->place, f->what, f->path);
        }
        /* The OCSP fetcher writes its cache as that user (after the drop). */
        if (cfg->ocsp.cache != NULL && access(cfg->ocsp.cache, W_OK | X_OK) < 0) {
            fprintf(out,
                    "%s: warning: ocsp.cache '%s' is not writable by user %s (group %s): %s; "
                    "fetched OCSP responses would not be cached\n",
                    cfg->path, cfg->ocsp.cache, cfg->run_as.user, cfg->run_as.group,
                    strerror(errno));
            n++;
        }
        fflush(out);
        _exit(n > 255 ? 255 : n);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return 0;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 0;
}
