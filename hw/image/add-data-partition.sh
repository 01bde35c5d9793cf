#!/usr/bin/env bash
# Appends the data partition to an image pi-gen exported (its firmware and root partitions
# stay as they are): partition 3, ext4 labelled recorder-data, journaled, DATA_SIZE long
# (default 512M; recorder-grow-data.service grows it to the end of the card at boot). No loop
# device: mkfs.ext4 writes the filesystem at the partition's offset in the file.
#   hw/image/add-data-partition.sh IMAGE.img [DATA_SIZE]
set -euo pipefail
IMAGE=$1
DATA_SIZE=${2:-512M}
LABEL=recorder-data

# "IMAGE1 : start= 8192, size= 1048576, type=c": start and size of each partition
partitions() {
    sfdisk --dump "$IMAGE" | awk -F'[=,]' '/ : start=/ { print $2 + 0, $4 + 0 }'
}
if [ "$(partitions | wc -l)" -ne 2 ]; then
    echo "$IMAGE: expected pi-gen's two partitions (firmware, root)" >&2
    exit 1
fi
# after the last partition (pi-gen's root), on a 4 MiB boundary as pi-gen aligns its own
end=$(partitions | awk '{ if ($1 + $2 > end) end = $1 + $2 } END { print end }')
start=$(((end + 8191) / 8192 * 8192))
truncate -s $(((start * 512) + $(numfmt --from=iec "$DATA_SIZE"))) "$IMAGE"
echo "start=$start,type=83" | sfdisk --quiet --append "$IMAGE"
sectors=$(partitions | awk -v start="$start" '$1 == start { print $2 }')
mkfs.ext4 -q -F -L "$LABEL" -E offset=$((start * 512)) "$IMAGE" $((sectors / 2))k
echo "$IMAGE: data partition $LABEL, $((sectors / 2048)) MiB at sector $start"
