"""VGG-19 weights files: their formats (detect, check, load), the download, and synthetic files for tests."""
