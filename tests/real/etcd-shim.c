/* Version skew shim of the real tier, packed as `etcd` in the etcd image: Debian's etcd is 3.4,
 * whose metrics listener has /health but not the /readyz and /livez that a 1.31 etcd.yaml probes
 * (and that kubeboot's rolling restart waits for). This starts the real etcd (etcd-3.4) with the
 * manifest's flags, its metrics listener moved one port up, and answers the manifest's metrics
 * address itself: /readyz and /livez are served from etcd's /health, anything else passed as is.
 * kubeboot's manifest is untouched; only the harness's image differs. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t child;
static void forward_signal(int s) { if (child > 0) kill(child, s); }

static int listen_on(const char *ip, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 16)) { perror("etcd-shim: listen"); exit(1); }
    return fd;
}

/* One request: read it, rewrite the probe paths, relay to etcd's moved metrics port, relay back. */
static void serve(int c, const char *ip, int port) {
    char req[8192];
    ssize_t n = read(c, req, sizeof req - 1);
    if (n <= 0) return;
    req[n] = 0;
    char out[8400];
    const char *path = strchr(req, ' ');
    if (path && (!strncmp(path + 1, "/readyz", 7) || !strncmp(path + 1, "/livez", 6))) {
        const char *rest = strchr(path + 1, ' ');
        snprintf(out, sizeof out, "GET /health%s", rest ? rest : " HTTP/1.0\r\n\r\n");
    } else {
        snprintf(out, sizeof out, "%s", req);
    }
    /* HTTP/1.0 upstream: etcd closes the connection after its answer, which ends the relay. */
    char *version = strstr(out, " HTTP/1.1\r\n");
    if (version) version[8] = '0';
    int u = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    if (connect(u, (struct sockaddr *)&a, sizeof a) == 0 && write(u, out, strlen(out)) > 0) {
        char buf[8192];
        while ((n = read(u, buf, sizeof buf)) > 0)
            if (write(c, buf, n) != n) break;
    }
    close(u);
}

int main(int argc, char **argv) {
    char ip[64] = "127.0.0.1";
    int port = 2381;
    char moved[128] = "";
    char **args = calloc(argc + 1, sizeof *args);
    args[0] = "/usr/local/bin/etcd-3.4";
    for (int i = 1; i < argc; i++) {
        args[i] = argv[i];
        if (!strncmp(argv[i], "--listen-metrics-urls=http://", 29)) {
            sscanf(argv[i] + 29, "%63[^:]:%d", ip, &port);
            snprintf(moved, sizeof moved, "--listen-metrics-urls=http://%s:%d", ip, port + 1);
            args[i] = moved;
        }
    }
    int fd = moved[0] ? listen_on(ip, port) : -1;
    child = fork();
    if (child == 0) { execv(args[0], args); perror("etcd-shim: exec etcd-3.4"); _exit(127); }
    signal(SIGTERM, forward_signal);
    signal(SIGINT, forward_signal);
    if (fd < 0) { int st; waitpid(child, &st, 0); return WEXITSTATUS(st); }
    if (fork() == 0) { /* the proxy; ends with the container */
        signal(SIGCHLD, SIG_IGN);
        for (;;) {
            int c = accept(fd, NULL, NULL);
            if (c < 0) continue;
            if (fork() == 0) { serve(c, ip, port + 1); _exit(0); }
            close(c);
        }
    }
    int st;
    waitpid(child, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
