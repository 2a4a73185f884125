"""nbgrader settings for the cnnkit graded exercises (this folder is the nbgrader course directory).

``cnnkit exercises release`` / ``cnnkit exercises autograde`` (``cnnkit.grading``) read this
file, then grade in a temporary course directory with its own gradebook: they always restore
deleted test cells and interrupt cells that run too long, whatever is set here.

Plain ``nbgrader`` commands run in this folder use it too, but then write ``release/``,
``submitted/``, ``autograded/``, ``feedback/`` and ``gradebook.db`` here: do not commit them.
"""

c = get_config()  # noqa: F821 (provided by the config loader)

c.CourseDirectory.course_id = "cnnkit"

# Seconds each cell may run when autograded (the student version's header says 60). A cell
# that runs longer is interrupted and scores as an error; the rest of the notebook still runs.
# `cnnkit exercises autograde --timeout S` overrides this.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# A submission whose test cell was deleted is graded with the original one, put back.
# (An edited test cell is always replaced by the original: test cells are locked cells.)
c.OverwriteCells.add_missing_cells = True

# What replaces a solution in the student version.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
