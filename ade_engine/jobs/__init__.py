"""Job execution from OUTSIDE the job subprocess: launcher, finalization, sandbox probe, queue, workers."""
