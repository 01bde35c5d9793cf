#!/bin/sh
# `make demo`, the dock's part (docs/DOCK.md): a device the demo agency provisions records a
# short shift on the simulated body, docks over loopback (`recorder dock serve` in the
# background, TLS 1.3 both ways), offloads, and frees its footage under the dock's signed
# receipt; the dock's copy is then verified against the receipt's head, and the dock prints
# its shift report.
#   demo/dock.sh RECORDER AGENCY WORK     (WORK: a new, empty directory)
set -eu
recorder=$1 agency=$2 work=$3
device=$work/device dock=$work/dock

pin=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["ca_spki_sha256"])' "$agency/agency.json")
mkdir -p "$device"
"$recorder" provision --store "$device/store" --agency-ca "$pin" -o "$work/request.json"
id=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["device_id"])' "$work/request.json")
"$recorder" agency enrol "$work/request.json" --agency "$agency"
printf '[device]\nofficer_id = "DEMO-7"\n' > "$work/bundle.toml"
"$recorder" agency bundle --agency "$agency" --device "$id" --config "$work/bundle.toml" -o "$work/bundle.json"
"$recorder" provision --store "$device/store" --install "$work/bundle.json"
printf '[video]\nwidth = 640\nheight = 360\n' > "$work/recorder.toml"
"$recorder" run --simulate --fast --config "$work/recorder.toml" --store "$device/store" \
    --script 'press record @2s; mark @6s; hold record 3.5s @12s'

"$recorder" dock init "$dock" --agency "$agency"
"$recorder" dock serve "$dock" --listen 127.0.0.1:0 > "$work/dock.log" 2>&1 &
serving=$!
# SIGTERM: a background job of a script ignores SIGINT; the dock's state is on disk at every answer
trap 'kill $serving 2>/dev/null || true; wait $serving 2>/dev/null || true' EXIT
port=
for _ in $(seq 100); do  # up to 10 s for the dock to listen
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/dock.log")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { echo "the dock did not start:" >&2; cat "$work/dock.log" >&2; exit 1; }

"$recorder" offload --dock "127.0.0.1:$port" --store "$device/store" --identity "$device/identity" \
    --config "$work/recorder.toml" --json > "$work/offload.json"
head=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["head"])' "$work/offload.json")
echo "offloaded under a receipt for ledger head $head; footage left on the device:" \
    "$(find "$device/store/media" -type f \( -name '*.age' -o -name '*.mp4' \) | wc -l) file(s)"
"$recorder" verify "$dock/devices/$id/store" --head "$head"
"$recorder" dock report "$dock"
