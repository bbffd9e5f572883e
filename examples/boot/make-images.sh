#!/bin/sh
# Fetch and build the images for booting Linux (and Xen) on hypdbg and on QEMU:
#   vmlinuz    Debian's armmp-lpae kernel (a zImage), from linux-image-*-armmp-lpae
#   xen        Debian's Xen hypervisor for armhf (a zImage too), from xen-hypervisor-*-armhf
#   initrd.gz  a busybox initramfs whose /init prints a marker and starts a shell
# The packages come from the armhf architecture of the Debian release this host's apt
# sources name, through a private apt state under the cache, so nothing on the host
# changes and root is not needed. Packages are unpacked with dpkg-deb, never installed.
# Needs: apt-get, dpkg-deb, tar, cpio, gzip. Everything lands in $HYPDBG_BOOT_CACHE
# (default ~/.cache/hypdbg/boot), outside the repository.
set -eu

CACHE=${HYPDBG_BOOT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hypdbg/boot}
KERNEL_PKG=${KERNEL_PKG:-linux-image-armmp-lpae}
XEN_PKG=${XEN_PKG:-xen-hypervisor-4.17-armhf}
BUSYBOX_PKG=${BUSYBOX_PKG:-busybox-static}
MARKER="hypdbg-initramfs: shell ready"

for tool in apt-get apt-cache dpkg-deb tar cpio gzip; do
    command -v "$tool" >/dev/null 2>&1 || { echo "make-images.sh: needs $tool" >&2; exit 1; }
done

start=$(date +%s)
APT="$CACHE/apt"
mkdir -p "$APT/lists/partial" "$APT/archives/partial" "$APT/debs"
set -- -o "Dir::State=$APT" -o "Dir::State::Lists=$APT/lists" -o "Dir::State::status=/dev/null" \
       -o "Dir::Cache=$APT" -o "Dir::Cache::archives=$APT/archives" \
       -o "APT::Architecture=armhf" -o "APT::Architectures::=armhf" \
       -o "APT::Sandbox::User=$(id -un)" -o "Debug::NoLocking=1" -q

echo "== apt-get update (armhf, private state in $APT)"
# A mirror caught mid-sync fails one index; the others still serve, so go on.
apt-get "$@" update >/dev/null || echo "make-images.sh: apt-get update reported errors; going on" >&2

# The meta package names the current versioned kernel package.
kpkg=$(apt-cache "$@" depends "$KERNEL_PKG" | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n1)
[ -n "$kpkg" ] || { echo "make-images.sh: $KERNEL_PKG: no armhf kernel package found" >&2; exit 1; }

echo "== apt-get download $kpkg $XEN_PKG $BUSYBOX_PKG"
(cd "$APT/debs" && rm -f ./*.deb && apt-get "$@" download "$kpkg" "$XEN_PKG" "$BUSYBOX_PKG")

ROOT="$CACHE/unpacked"
rm -rf "$ROOT"
mkdir -p "$ROOT"
for deb in "$APT"/debs/*.deb; do
    case $(basename "$deb") in
        linux-image-*) dpkg-deb --fsys-tarfile "$deb" | (cd "$ROOT" && tar -x ./boot) ;;
        *) dpkg-deb -x "$deb" "$ROOT" ;;
    esac
done
cp "$ROOT"/boot/vmlinuz-* "$CACHE/vmlinuz"
cp "$ROOT"/boot/config-* "$CACHE/vmlinuz.config"
cp "$ROOT"/boot/xen-*-armhf "$CACHE/xen"

echo "== initramfs"
INITRAMFS="$CACHE/initramfs"
rm -rf "$INITRAMFS"
mkdir -p "$INITRAMFS/bin" "$INITRAMFS/sbin" "$INITRAMFS/usr/bin" "$INITRAMFS/usr/sbin" \
         "$INITRAMFS/proc" "$INITRAMFS/sys" "$INITRAMFS/dev" "$INITRAMFS/tmp" "$INITRAMFS/root"
cp "$ROOT/bin/busybox" "$INITRAMFS/bin/busybox"
cat > "$INITRAMFS/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "$MARKER (uptime \$(cut -d' ' -f1 /proc/uptime) s, kernel \$(uname -r))"
exec setsid cttyhack sh
INIT
chmod 755 "$INITRAMFS/init"
(cd "$INITRAMFS" && find . | LC_ALL=C sort | cpio -o -H newc --owner 0:0 --reproducible --quiet) \
    | gzip -9n > "$CACHE/initrd.gz"

{
    for deb in "$APT"/debs/*.deb; do
        dpkg-deb --show --showformat='${Package} ${Version}\n' "$deb"
    done
} > "$CACHE/VERSIONS"
echo "== done in $(( $(date +%s) - start )) s: $CACHE"
ls -l "$CACHE/vmlinuz" "$CACHE/xen" "$CACHE/initrd.gz"
cat "$CACHE/VERSIONS"
