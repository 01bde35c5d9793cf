"""Where the device is: a gpsd client and the 1 Hz track."""
