"""Data in and out: DICOM, folder index, SIIM RLE/CSV, DICOM SEG, phantom data (no Qt, no TensorFlow)."""
