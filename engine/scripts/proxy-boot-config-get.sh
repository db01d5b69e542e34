# proxy-boot-config-get.sh: the saved boot options of berth-proxy.
#
# $1 the file. Output: its text (nothing when there is none). Exit: 0.
if [ -f "$1" ]; then cat "$1"; fi
