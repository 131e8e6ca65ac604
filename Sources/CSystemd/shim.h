#ifndef ECHO_CSYSTEMD_SHIM_H
#define ECHO_CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#include <sys/prctl.h>
#include <signal.h>

// prctl is variadic, which Swift cannot call: a fixed-arity wrapper so a worker dies with its supervisor.
static inline int echo_set_parent_death_signal(int sig) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0);
}
#endif
