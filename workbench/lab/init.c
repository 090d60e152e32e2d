/* /init of the lab's guest images (workbench.lab.images): mount /proc, /sys and /tmp,
 * print the start marker, run /bin/workload with the arguments stored NUL-separated in
 * /etc/workload-args, print its exit status, power off. Static, no shell: the same
 * image boots under QEMU (poweroff through ACPI ends QEMU) and User-mode Linux (halts).
 * (Debian 12's busybox-static dies in its C library's start-up under User-mode Linux on
 * hosts with AVX-512/AMX, so the image does without a shell.)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define MAX_ARGS 64

int main(void) {
    static char buf[8192];
    char *argv[MAX_ARGS + 2] = {"/bin/workload"};
    int argc = 1;
    mount("proc", "/proc", "proc", 0, NULL);
    mount("sysfs", "/sys", "sysfs", 0, NULL);
    mount("tmpfs", "/tmp", "tmpfs", 0, NULL);
    int fd = open("/etc/workload-args", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : 0;
    for (ssize_t i = 0; n > 0 && i < n && argc <= MAX_ARGS; i += strlen(buf + i) + 1) argv[argc++] = buf + i;
    argv[argc] = NULL;
    printf("workbench-lab: init started\n");
    fflush(stdout);
    int status = 255;
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir("/tmp") != 0) _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid > 0 && waitpid(pid, &status, 0) == pid)
        status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    printf("workbench-lab: workload exit status %d\n", status);
    fflush(stdout);
    /* Let the console drain: User-mode Linux halting at once loses (zeroes) the last line. */
    tcdrain(1);
    usleep(200000);
    sync();
    reboot(RB_POWER_OFF);
    return 0;
}
