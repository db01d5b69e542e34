# proxy-boot-config-reset.sh: forgets the saved boot options of berth-proxy.
#
# $1 the file. Exit: rm's.
rm -f "$1"
