"""What a job will do, decided before it runs, by arithmetic: sizes and iterations (schedule), memory
(memory), time from a measured rate handed in (timing), and the `Plan` that gathers them (plan).
Nothing here runs the network: the device's speed is measured by nst_engine.calibrate, above the optimiser.
"""
