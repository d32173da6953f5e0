"""The plugin host: hookspecs and markers, plugin discovery, the run contract, training, evaluation, devices."""
