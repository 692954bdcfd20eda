/* ds01-init - PID 1 of every ds01 container.
 *
 * Mounted read-only at /.ds01/init and linked statically, so it runs in any image.
 *  - No arguments: a session container. Sleep and reap every child (orphans of exec'd shells).
 *  - "-- CMD ARGS...": a batch run. CMD is the main process; other signals are forwarded to it;
 *    orphans are reaped; when CMD exits, init exits with its status (128+signal if it was
 *    killed). A CMD that cannot run exits 127 (not found) or 126 (found, not runnable), as
 *    shells do, and at once; once CMD runs, init's name becomes "ds01-init:run", which is how
 *    ds01d tells a command that started from one that could not.
 *
 * Stopping (SIGTERM, which is what `docker stop` sends; in a session container also SIGINT,
 * SIGHUP, SIGQUIT): every process in the container gets SIGTERM (init is PID 1 of the container's
 * PID namespace, so kill(-1) reaches them all, exec'd sessions included), and init waits until
 * the last one has exited, then exits. Docker's stop timeout (the owner's sigterm_grace_s) bounds
 * the wait: then it kills what is left. So a process that saves its work on SIGTERM gets the
 * grace to do it, and a container of idle shells stops in milliseconds: interactive shells
 * ignore SIGTERM, so a terminal session whose every process ignores SIGTERM gets SIGHUP, the
 * hang-up its terminal would give it. Init reads only /proc and takes no other input. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define STOP_POLL_NS (20 * 1000 * 1000) /* how often a stopping init looks for idle terminals */
#define MAX_PROCS    4096

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
        got_signal = sig;
}

/* 127 when no file by that name exists where the command is looked for, else 126 (it exists
 * but cannot be run), as shells report them. */
static int not_runnable_code(const char *file)
{
        struct stat st;
        if (strchr(file, '/'))
                return stat(file, &st) == 0 ? 126 : 127;
        const char *path = getenv("PATH");
        if (!path || !*path)
                path = "/usr/local/bin:/usr/bin:/bin";
        char buf[4096];
        for (const char *p = path; *p;) {
                const char *colon = strchr(p, ':');
                size_t n = colon ? (size_t)(colon - p) : strlen(p);
                if (snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, n ? p : ".", file) <
                        (int)sizeof(buf) &&
                    stat(buf, &st) == 0 && !S_ISDIR(st.st_mode))
                        return 126;
                p += n + (colon != NULL);
        }
        return 127;
}

/* The child: runs the command; on failure tells the parent the exit code through `report`. */
static void run_command(char **argv, int report)
{
        execvp(argv[0], argv);
        int e = errno;
        unsigned char code = (unsigned char)not_runnable_code(argv[0]);
        if (code == 127)
                fprintf(stderr, "ds01-init: cannot run '%s': command not found (PATH=%s)\n",
                        argv[0], getenv("PATH") ? getenv("PATH") : "");
        else
                fprintf(stderr, "ds01-init: cannot run '%s': %s\n", argv[0], strerror(e));
        (void)!write(report, &code, 1);
        _exit(code);
}

/* ---- stopping ---------------------------------------------------------------------------- */

/* Whether any process but init is left (one it may signal: all run as the container's user). */
static bool others_left(void)
{
        return kill(-1, 0) == 0;
}

struct proc {
        pid_t pid, session;
        bool ignores_term;
};

static bool read_proc(pid_t pid, struct proc *ret)
{
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return false;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* "pid (comm) state ppid pgrp session tty_nr ...": comm may hold anything, so parse
         * after its last ')' */
        char *p = strrchr(buf, ')');
        int ppid, pgrp, session, tty;
        char state;
        if (!p || sscanf(p + 1, " %c %d %d %d %d", &state, &ppid, &pgrp, &session, &tty) != 5 ||
            tty == 0)
                return false; /* no terminal: SIGTERM is all it gets */
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return false;
        unsigned long long ign = 0;
        while (fgets(buf, sizeof(buf), f))
                if (sscanf(buf, "SigIgn: %llx", &ign) == 1)
                        break;
        fclose(f);
        *ret = (struct proc){pid, session, (ign >> (SIGTERM - 1)) & 1};
        return true;
}

/* Sends SIGHUP (and SIGCONT, as a hang-up does) to each terminal session whose processes all
 * ignore SIGTERM: shells waiting at their prompt, with nothing running that is still saving. */
static void hang_up_idle_terminals(void)
{
        static struct proc procs[MAX_PROCS];
        size_t n = 0;
        DIR *dir = opendir("/proc");
        if (!dir)
                return;
        struct dirent *de;
        while ((de = readdir(dir)) && n < MAX_PROCS) {
                char *end;
                long pid = strtol(de->d_name, &end, 10);
                if (*end || pid <= 1)
                        continue;
                n += read_proc((pid_t)pid, &procs[n]);
        }
        closedir(dir);
        for (size_t i = 0; i < n; i++) {
                bool idle = true;
                for (size_t k = 0; k < n && idle; k++)
                        if (procs[k].session == procs[i].session)
                                idle = procs[k].ignores_term;
                if (idle) {
                        kill(procs[i].pid, SIGHUP);
                        kill(procs[i].pid, SIGCONT);
                }
        }
}

static bool is_stop_signal(int sig, bool batch)
{
        if (sig == SIGTERM)
                return true;
        return !batch && (sig == SIGINT || sig == SIGHUP || sig == SIGQUIT);
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
        bool batch = first < argc;
        pid_t main_pid = -1;
        if (batch) {
                int report[2];
                if (pipe2(report, O_CLOEXEC) < 0 || (main_pid = fork()) < 0) {
                        perror("ds01-init: starting the command");
                        return 127;
                }
                if (main_pid == 0) {
                        close(report[0]);
                        sigprocmask(SIG_SETMASK, &old, NULL);
                        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
                                signal(sigs[i], SIG_DFL);
                        setpgid(0, 0);
                        run_command(argv + first, report[1]);
                }
                close(report[1]);
                /* EOF: the exec succeeded (the pipe closed with it); a byte: it failed. */
                unsigned char code;
                ssize_t k;
                while ((k = read(report[0], &code, 1)) < 0 && errno == EINTR)
                        ;
                close(report[0]);
                if (k == 1) {
                        waitpid(main_pid, NULL, 0);
                        return code;
                }
                prctl(PR_SET_NAME, "ds01-init:run", 0, 0, 0);
        }

        /* Wait for SIGCHLD or another signal, with everything but those blocked; SIGCHLD needs
         * a handler to interrupt the wait. */
        sa.sa_handler = on_signal;
        sigaction(SIGCHLD, &sa, NULL);
        sigset_t wait_mask;
        sigfillset(&wait_mask);
        sigdelset(&wait_mask, SIGCHLD);
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
                sigdelset(&wait_mask, sigs[i]);

        bool stopping = false, main_done = false;
        int main_status = 0;
        for (;;) {
                int status;
                pid_t p;
                while ((p = waitpid(-1, &status, WNOHANG)) > 0)
                        if (p == main_pid) {
                                main_done = true;
                                main_status = WIFEXITED(status) ? WEXITSTATUS(status)
                                                                : 128 + WTERMSIG(status);
                        }
                if (main_done && !stopping)
                        return main_status; /* the batch is over */
                if (stopping && !others_left())
                        return main_done ? main_status : 0;
                int sig = got_signal;
                got_signal = 0;
                if (sig && sig != SIGCHLD) {
                        if (is_stop_signal(sig, batch)) {
                                if (!stopping)
                                        kill(-1, SIGTERM);
                                stopping = true;
                        } else if (batch && !main_done) {
                                kill(-main_pid, sig);
                                kill(main_pid, sig);
                        }
                        continue;
                }
                if (!stopping) {
                        sigsuspend(&wait_mask);
                        continue;
                }
                hang_up_idle_terminals();
                struct timespec ts = {0, STOP_POLL_NS};
                ppoll(NULL, 0, &ts, &wait_mask);
        }
}
