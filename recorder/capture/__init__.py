"""Media sources (synthetic, later picamera2/OpenCV/microphones) and encoders."""
