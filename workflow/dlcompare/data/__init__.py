"""The data stages: download, safe extraction, digits, cleaning, images, splitting, split cache."""
