"""Where runs live: the run store (`runs`), model files and their side-files (`checkpoints`),
and models in and out of the app as zips (`transfer`), and runs side by side (`compare`)."""
