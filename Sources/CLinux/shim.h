#ifndef ECHO_CLINUX_SHIM_H
#define ECHO_CLINUX_SHIM_H
#include <sys/prctl.h>
#include <signal.h>
#include <spawn.h>

// prctl is variadic, which Swift cannot call: a fixed-arity wrapper so a child dies with its parent.
static inline int echo_set_parent_death_signal(int sig) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0);
}

// glibc declares these only under _GNU_SOURCE, and Swift's Glibc module is built without it.
// The functions exist in glibc >= 2.34 (Debian 12 has 2.36); declaring them here gives Swift a
// typed call instead of a lookup by name.
extern int signalfd(int fd, const sigset_t *mask, int flags);
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);

static inline int echo_signalfd(const sigset_t *mask, int flags) {
    return signalfd(-1, mask, flags);
}
static inline int echo_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}
#endif
