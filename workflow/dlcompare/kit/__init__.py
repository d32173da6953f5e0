"""What plugins share: learning-rate groups, pretrained-weight caches, torch runtime facts."""
