"""loop_control: removing a loop device itself through /dev/loop-control, which losetup -d does not."""
import fcntl
import os

LOOP_CTL_REMOVE = 0x4C81


def remove_loop(minor):
    """Deletes loop device `minor` (LOOP_CTL_REMOVE); `losetup -d` only unbinds its file."""
    fd = os.open("/dev/loop-control", os.O_RDWR)
    try:
        fcntl.ioctl(fd, LOOP_CTL_REMOVE, minor)
    finally:
        os.close(fd)
