/* The Pod sandbox for the real tier: waits for SIGTERM/SIGINT like registry.k8s.io/pause. */
#include <signal.h>
#include <unistd.h>
static void quit(int s) { (void)s; _exit(0); }
int main(void) {
    signal(SIGTERM, quit);
    signal(SIGINT, quit);
    for (;;) pause();
}
