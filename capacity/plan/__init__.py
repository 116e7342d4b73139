"""Months-ahead capacity plans on daily and weekly peaks: the weeks a plan covers (:mod:`~capacity.plan.weeks`),
the week-by-week plan (:mod:`~capacity.plan.plan`), the growth it assumes (:mod:`~capacity.plan.growth`) and its
score once the actuals arrive (:mod:`~capacity.plan.score`). Pure: no files, database, clock or environment."""
