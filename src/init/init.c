/* ds01-init - PID 1 of every ds01 session container (DESIGN §3.5).
 *
 * Mounted read-only at /.ds01/init and linked statically, so it runs in any image.
 *  - No arguments: a session container. Sleep, reap every child (exec'd shells, their orphans),
 *    and exit at once on SIGTERM/SIGINT/SIGHUP so `docker stop` (and so retire) takes
 *    milliseconds instead of the 10 s kill timeout that a signal-ignoring PID 1 causes.
 *  - "-- CMD ARGS...": a batch run. CMD is the main process; signals are forwarded to it; orphans
 *    are reaped; when CMD exits, init exits with its status (128+signal if it was killed).
 * It has no other behaviour, reads no files and takes no other input. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
        got_signal = sig;
}

int main(int argc, char **argv)
{
        static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
        sigset_t all, old;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, &old);

        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
                sigaction(sigs[i], &sa, NULL);
        sa.sa_handler = SIG_DFL;
        sigaction(SIGCHLD, &sa, NULL);

        int first = 1;
        if (argc > 1 && strcmp(argv[1], "--") == 0)
                first = 2;
        pid_t main_pid = -1;
        if (first < argc) {
                main_pid = fork();
                if (main_pid < 0) {
                        perror("ds01-init: fork");
                        return 127;
                }
                if (main_pid == 0) {
                        sigprocmask(SIG_SETMASK, &old, NULL);
                        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
                                signal(sigs[i], SIG_DFL);
                        setpgid(0, 0);
                        execvp(argv[first], argv + first);
                        fprintf(stderr, "ds01-init: cannot run %s: %s\n", argv[first],
                                strerror(errno));
                        _exit(errno == ENOENT ? 127 : 126);
                }
        }

        /* Wait for SIGCHLD or a termination signal. sigsuspend with everything but those
         * unblocked; SIGCHLD needs a handler to interrupt sigsuspend. */
        sa.sa_handler = on_signal;
        sigaction(SIGCHLD, &sa, NULL);
        sigset_t wait_mask;
        sigfillset(&wait_mask);
        sigdelset(&wait_mask, SIGCHLD);
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
                sigdelset(&wait_mask, sigs[i]);

        for (;;) {
                int status;
                pid_t p;
                while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
                        if (p == main_pid) {
                                if (WIFEXITED(status))
                                        return WEXITSTATUS(status);
                                return 128 + WTERMSIG(status);
                        }
                }
                int sig = got_signal;
                if (sig && sig != SIGCHLD) {
                        got_signal = 0;
                        if (main_pid < 0)
                                return 0; /* session: stop at once */
                        kill(-main_pid, sig);
                        kill(main_pid, sig);
                        continue;
                }
                got_signal = 0;
                sigsuspend(&wait_mask);
        }
}
