/* The floor for `just bench`: the least a launcher with barco's isolation
 * must do, and nothing else. clone3 with barco's namespace flags; in the
 * child: / private, the rootfs bound onto itself, a fresh /proc,
 * pivot_root(".", "."), the old root detached, a new user namespace whose
 * maps the parent writes, setresuid, execve. No /dev, no cgroup, no
 * capabilities, no seccomp, no error messages, no signal forwarding.
 * Usage: floor ROOTFS COMMAND [ARG...]. Built with musl-gcc -static. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* include/uapi/linux/sched.h, version 0 (64 bytes); musl-gcc has no kernel headers. */
struct clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) < 0) _exit(125);
    close(fd);
}

int main(int argc, char **argv) {
    if (argc < 3) return 125;
    int to_parent[2], to_child[2];
    if (pipe2(to_parent, O_CLOEXEC) || pipe2(to_child, O_CLOEXEC)) return 125;
    struct clone_args args = {
        .flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWCGROUP,
        .exit_signal = SIGCHLD,
    };
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0) return 125;
    char c = 0;
    if (pid == 0) {
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) _exit(125);
        if (mount(argv[1], argv[1], NULL, MS_BIND, NULL) || chdir(argv[1])) _exit(125);
        if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) _exit(125);
        if (syscall(SYS_pivot_root, ".", ".") || umount2(".", MNT_DETACH) || chdir("/")) _exit(125);
        if (unshare(CLONE_NEWUSER)) _exit(125);
        if (write(to_parent[1], &c, 1) != 1 || read(to_child[0], &c, 1) != 1) _exit(125);
        if (setresgid(0, 0, 0) || setresuid(0, 0, 0)) _exit(125);
        execve(argv[2], argv + 2, (char *[]){"PATH=/bin", NULL});
        _exit(127);
    }
    if (read(to_parent[0], &c, 1) != 1) return 125;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/uid_map", pid);
    write_file(path, "0 10000 2000\n");
    snprintf(path, sizeof path, "/proc/%ld/gid_map", pid);
    write_file(path, "0 10000 2000\n");
    if (write(to_child[1], &c, 1) != 1) return 125;
    int status;
    if (waitpid(pid, &status, 0) < 0) return 125;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
