#!/bin/sh
# Runs inside the Ceph chroot (rgw.py): a one-node cluster in /cluster, a private directory
# of the test run's: one monitor, one OSD on memstore (the data lives in its memory), and
# radosgw on 127.0.0.1:RGW_PORT with one S3 user. Every daemon runs in the foreground as a
# child of this shell, so killing its process group stops them all.
#   cluster.sh MON_PORT RGW_PORT ACCESS_KEY SECRET_KEY
set -eu
MON_PORT=$1 RGW_PORT=$2 ACCESS_KEY=$3 SECRET_KEY=$4
D=/cluster
FSID=$(cat /proc/sys/kernel/random/uuid)
mkdir -p $D/log $D/run $D/mon-a $D/osd-0 $D/rgw

# A test cluster on one machine: no cephx (nothing but this test reaches 127.0.0.1's
# ports); crc messengers, the monitor's included (without cephx a "secure" connection
# cannot be made: radosgw, which asks for one from the monitor by default, stays in
# AUTH_CONNECTING); one copy of everything; pgp_num left at its default (above pg_num
# pool creation fails with ERANGE).
cat >$D/ceph.conf <<CONF
[global]
fsid = $FSID
mon_host = v2:127.0.0.1:$MON_PORT
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_cluster_mode = crc
ms_service_mode = crc
ms_client_mode = crc
ms_mon_cluster_mode = crc
ms_mon_service_mode = crc
ms_mon_client_mode = crc
ms_bind_ipv4 = true
ms_bind_ipv6 = false
public_network = 127.0.0.1/32
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_objectstore = memstore
memstore_device_bytes = 1073741824
osd_data = $D/osd-\$id
mon_data = $D/mon-\$id
run_dir = $D/run
admin_socket = $D/run/\$name.asok
log_file = $D/log/\$name.log
keyring = $D/keyring
[client.rgw.a]
rgw_frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw_data = $D/rgw
CONF
export CEPH_CONF=$D/ceph.conf
: >$D/keyring

monmaptool --create --addv a "[v2:127.0.0.1:$MON_PORT]" --fsid "$FSID" $D/monmap >/dev/null
ceph-mon --mkfs -i a --monmap $D/monmap --setuser root --setgroup root
ceph-mon -f -i a --setuser root --setgroup root &

OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
OSD_ID=$(ceph --connect-timeout 60 osd new "$OSD_UUID")
ceph-osd --mkfs -i "$OSD_ID" --osd-uuid "$OSD_UUID" --setuser root --setgroup root 2>>$D/log/osd-mkfs.log
ceph-osd -f -i "$OSD_ID" --setuser root --setgroup root &
echo osd >$D/progress

# The first user creates radosgw's pools, which needs the OSD up.
radosgw-admin user create --uid=archive-test --display-name=archive-test \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
echo user >$D/progress
radosgw -f -n client.rgw.a --setuser root --setgroup root &
echo started >$D/progress
wait
