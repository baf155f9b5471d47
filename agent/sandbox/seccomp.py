"""The seccomp filter every sandboxed process runs under, compiled once to BPF.

bubblewrap loads it (`--seccomp FD`) as the last step before it starts the runner, so the
filter covers the runner and everything it forks. Forbidden system calls fail with EPERM
(sockets of any family but AF_UNIX with EAFNOSUPPORT) rather than killing the process: the
runner then reports what was refused. The list follows Docker's and Flatpak's default
profiles for what an unprivileged workload never needs.
"""

from __future__ import annotations

import errno
import functools
import socket
import tempfile

from agent.errors import SandboxUnavailableError

DENIED_SYSCALLS: tuple[str, ...] = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "mount",
    "umount2",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "mount_setattr",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "clone3",  # clone3's flags cannot be inspected; glibc falls back to clone
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "syslog",
    "open_by_handle_at",
    "name_to_handle_at",
    "lookup_dcookie",
    "personality",
    "uselib",
    "ustat",
    "sysfs",
    "vhangup",
    "nfsservctl",
)


@functools.cache
def seccomp_program() -> bytes:
    """The BPF program (raw `struct sock_filter` array) bubblewrap expects on `--seccomp`."""
    try:
        import pyseccomp
    except (ImportError, OSError) as exc:  # OSError: libseccomp.so.2 is missing
        raise SandboxUnavailableError(
            f"the seccomp filter needs pyseccomp and libseccomp2 ({exc}): "
            "apt-get install libseccomp2 && .venv/bin/pip install pyseccomp"
        ) from exc
    rules = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    deny = pyseccomp.ERRNO(errno.EPERM)
    for name in DENIED_SYSCALLS:
        try:
            rules.add_rule(deny, name)
        except OSError:  # a system call this architecture does not have
            continue
    not_unix = pyseccomp.Arg(0, pyseccomp.NE, socket.AF_UNIX)
    for name in ("socket", "socketpair"):
        rules.add_rule(pyseccomp.ERRNO(errno.EAFNOSUPPORT), name, not_unix)
    # Block TIOCSTI (typing into the controlling terminal), a classic escape.
    tiocsti = 0x5412
    rules.add_rule(deny, "ioctl", pyseccomp.Arg(1, pyseccomp.EQ, tiocsti))
    with tempfile.TemporaryFile() as out:
        rules.export_bpf(out)
        out.seek(0)
        return out.read()
