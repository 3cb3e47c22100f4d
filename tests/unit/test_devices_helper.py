"""The device helper of tests/fixtures/devices.py (PyG's ``withDevice`` pattern): a test runs on the CPU
and on CUDA, the CUDA case marked ``gpu`` and skipped with its reason where there is none."""

from __future__ import annotations

from tests.fixtures.devices import NO_CUDA, cuda_available, device_params, with_device


@with_device
def test_with_device_runs_the_test_on_that_device(device):
    import torch

    x = torch.arange(4.0, device=device)
    assert x.device.type == device.type
    assert float((x * 2).sum().cpu()) == 12.0


def test_the_cuda_case_is_marked_gpu_and_skipped_with_a_reason_without_cuda():
    cpu, cuda = device_params()
    assert (cpu.values, cuda.values) == (("cpu",), ("cuda",))
    assert not cpu.marks
    names = {m.name for m in cuda.marks}
    assert names == {"gpu", "skipif"}
    skip = next(m for m in cuda.marks if m.name == "skipif")
    assert skip.args == (not cuda_available(),) and skip.kwargs["reason"] == NO_CUDA
    assert [p.values for p in device_params(cpu=False)] == [("cuda",)]


def test_a_test_without_the_decorator_gets_the_cpu(device):
    assert device.type == "cpu"
