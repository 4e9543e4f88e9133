"""The prober: real connections between pods, compared with the engine's verdicts."""
