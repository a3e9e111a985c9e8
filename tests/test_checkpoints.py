"""Checkpoint averaging equals the element-wise mean, computed independently."""
import torch

from natpipe.checkpoints import average_checkpoints, last_update_checkpoints


def test_average_is_elementwise_mean(tmp_path):
    torch.manual_seed(0)
    states = [{"model": {"w": torch.randn(3, 4), "step": torch.tensor(i)}, "extra": i} for i in range(3)]
    paths = []
    for i, state in enumerate(states):
        paths.append(tmp_path / f"checkpoint_1_{(i + 1) * 10}.pt")
        torch.save(state, paths[-1])
    averaged = average_checkpoints(paths)
    expected = (states[0]["model"]["w"] + states[1]["model"]["w"] + states[2]["model"]["w"]) / 3
    assert torch.allclose(averaged["model"]["w"], expected, atol=1e-7)
    assert averaged["model"]["w"].dtype == torch.float32
    assert averaged["model"]["step"].item() == 2  # non-float entries come from the last checkpoint
    assert averaged["extra"] == 2


def test_last_update_checkpoints_sorts_numerically(tmp_path):
    for name in ("checkpoint_1_900.pt", "checkpoint_2_1000.pt", "checkpoint_1_100.pt", "checkpoint_last.pt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in last_update_checkpoints(tmp_path, 2)] == ["checkpoint_1_900.pt", "checkpoint_2_1000.pt"]
