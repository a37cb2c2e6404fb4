"""Running a study: the pure training functions (trainer), what a config derives (plan), the study loop
(study) and where a variant starts (resume), the run folder and everything in it (folder, files, checkpoint,
summary), and the safety around them (preflight, faults, hosts)."""
