# proxy-boot-config-set.sh: saves the boot options of berth-proxy.
#
# $1 the file; stdin its new text, written atomically. Exit: 0, or the failing step's.
mkdir -p "${1%/*}" && cat >"$1.tmp" && mv -f "$1.tmp" "$1"
