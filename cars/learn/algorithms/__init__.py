"""The learners themselves, one module each: the genetic algorithm (ga), OpenAI-ES (es), CMA-ES (cmaes) -
which evolve a population of brains behind cars.learn.learner's ask/tell interface - and the policy-gradient
learners PPO (ppo) and REINFORCE (reinforce) with their Gaussian policy (policy) and rollout buffer (rollout).
"""
