"""Optimiser updates against values worked out by hand, and schedules at known steps."""

import math

import numpy as np
import pytest

from engine import SGD, Adam, AdamW, CosineLR, Parameter, StepLR


def param(values, grad):
    p = Parameter(np.array(values, dtype=np.float32))
    p.grad[...] = grad
    return p


def run(optimizer_cls, grads, **kwargs):
    p = param([1.0, -2.0], grads[0])
    opt = optimizer_cls([p], **kwargs)
    for g in grads:
        p.grad[...] = g
        opt.step()
    assert p.data.dtype == np.float32
    return p.data


G = [0.5, 0.25]


@pytest.mark.parametrize("kwargs,steps,expected", [
    (dict(lr=0.1), 1, [0.95, -2.025]),                                          # w - lr g
    (dict(lr=0.1, weight_decay=0.1), 1, [0.94, -2.005]),                        # g + wd w = [0.6, 0.05]
    (dict(lr=0.1, momentum=0.9), 2, [1 - 0.29 * 0.5, -2 - 0.29 * 0.25]),         # v: g, then 1.9 g
    (dict(lr=0.1, momentum=0.9, nesterov=True), 2, [1 - 0.461 * 0.5, -2 - 0.461 * 0.25]),  # 1.9 g + 2.71 g
])
def test_sgd(kwargs, steps, expected):
    np.testing.assert_allclose(run(SGD, [G] * steps, **kwargs), expected, rtol=1e-6)


def test_adam_two_steps():
    # step 1: m_hat = g, v_hat = g^2, so each weight moves by lr * sign(g).
    # step 2, weight 0 (g = 0.5 then -0.5): m = -0.005, v = 0.00049975, m_hat = -0.005 / 0.19,
    #   v_hat = 0.00049975 / 0.001999 = 0.25, update = 0.1 * m_hat / 0.5 = -0.1 / 19.
    # step 2, weight 1 (constant g): m_hat = g, v_hat = g^2 -> moves by lr again.
    w = run(Adam, [[0.5, 0.25], [-0.5, 0.25]], lr=0.1)
    np.testing.assert_allclose(w, [0.9 + 0.1 / 19, -2.2], rtol=1e-5)


def test_adam_l2_versus_adamw_decoupled():
    # Adam, wd=1: g + w = [1.5, -1.75] -> w - lr * sign = [0.9, -1.9]
    np.testing.assert_allclose(run(Adam, [G], lr=0.1, weight_decay=1.0), [0.9, -1.9], rtol=1e-6)
    # AdamW, wd=0.1: w * (1 - 0.1 * 0.1) = [0.99, -1.98], then - lr * sign(g)
    np.testing.assert_allclose(run(AdamW, [G], lr=0.1, weight_decay=0.1), [0.89, -2.08], rtol=1e-6)


def test_learning_rate_is_settable_and_used():
    p = param([1.0, -2.0], G)
    opt = SGD([p], lr=0.1)
    opt.lr = 0.2
    opt.step()
    np.testing.assert_allclose(p.data, [0.9, -2.05], rtol=1e-6)


def test_zero_grad_and_step_do_not_reallocate():
    p = param([1.0, -2.0], G)
    grad, data = p.grad, p.data
    opt = Adam([p])
    opt.step()
    opt.zero_grad()
    assert p.grad is grad and p.data is data
    assert not p.grad.any()


def test_optimizer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="no parameters"):
        Adam([])
    with pytest.raises(ValueError, match="betas"):
        Adam([param([1.0], [0.0])], betas=(1.0, 0.999))
    with pytest.raises(ValueError, match="Nesterov"):
        SGD([param([1.0], [0.0])], lr=0.1, nesterov=True)


def test_step_lr():
    opt = SGD([param([1.0], [0.0])], lr=0.1)
    schedule = StepLR(opt, step_size=3, gamma=0.5)
    assert [schedule.lr_at(t) for t in (0, 2, 3, 5, 6, 7)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
    for _ in range(3):
        schedule.step()
    assert opt.lr == pytest.approx(0.05)


def test_cosine_lr_without_and_with_warmup():
    opt = SGD([param([1.0], [0.0])], lr=0.1)
    schedule = CosineLR(opt, total_steps=10, min_lr=0.01)
    assert schedule.lr_at(0) == pytest.approx(0.1)
    assert schedule.lr_at(5) == pytest.approx(0.055)
    assert schedule.lr_at(10) == pytest.approx(0.01)
    assert schedule.lr_at(25) == pytest.approx(0.01)
    assert schedule.lr_at(2) == pytest.approx(0.01 + 0.09 * 0.5 * (1 + math.cos(math.pi * 0.2)))

    opt = SGD([param([1.0], [0.0])], lr=0.1)
    schedule = CosineLR(opt, total_steps=12, warmup_steps=2)
    assert opt.lr == pytest.approx(0.05)                 # set at construction: lr_at(0)
    assert schedule.step() == pytest.approx(0.1)          # end of warm-up
    assert schedule.lr_at(7) == pytest.approx(0.05)       # half-way through the cosine part
    for _ in range(20):
        schedule.step()
    assert opt.lr == pytest.approx(0.0)


def test_adam_state_dict_continues_training_exactly():
    rng = np.random.default_rng(0)
    target = rng.standard_normal(5).astype(np.float32)

    def train(param, opt, steps):
        for _ in range(steps):
            param.grad[...] = 2 * (param.data - target)
            opt.step()

    a = Parameter(np.zeros(5, np.float32))
    opt_a = Adam([a], lr=0.1)
    train(a, opt_a, 7)
    b = Parameter(a.data.copy())
    opt_b = Adam([b], lr=0.1)
    opt_b.load_state_dict(opt_a.state_dict())
    train(a, opt_a, 5)
    train(b, opt_b, 5)
    np.testing.assert_array_equal(a.data, b.data)
    with pytest.raises(ValueError, match="m0"):
        opt_b.load_state_dict({"m0": np.zeros(3), "v0": np.zeros(5), "steps": 1})
