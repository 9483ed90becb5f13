"""Learning at scale: `cars sweep` (a grid of settings x seeds as ordinary run folders: sweep, driver, report),
where its cells run (backends: a local process pool or Ray tasks), and one big run's generations scored in
shards on Ray actors (sharded). Above cars.learn, beside cars.ui; Ray is imported only when asked for.
"""
