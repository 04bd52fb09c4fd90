#!/usr/bin/python3
"""train.py - a data-parallel PyTorch training job for Colossus (CPU, gloo) that checkpoints
to COLOSSUS_CHECKPOINT_DIR and resumes from it after a restart.

It trains a tiny MLP on synthetic, deterministic data: the batch of step S on rank R is drawn
from a generator seeded by (seed, S, R), so a run that is killed and resumed from a
checkpoint ends with exactly the same parameters as a run that never stopped (same world
size). Rank 0 writes the checkpoint every TRAIN_CKPT_EVERY steps (tmp file + fsync + rename)
and, at the end, final.json with the parameters (as float.hex), the step count and the step
it resumed from. Every rank reports the model FLOPs it has executed to COLOSSUS_FLOPS_FILE
(see flops_per_step()), which the node agent adds up into the run's usage record.

Environment (set by Colossus; torchrun sets the same names):
  RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT   torch.distributed env://
  COLOSSUS_CHECKPOINT_DIR   where checkpoint.pt and final.json go (default ./checkpoints)
  COLOSSUS_RESTART          how many times the job was restarted (only printed)
  COLOSSUS_FLOPS_FILE       where this rank writes the FLOPs it has executed in this run
  COLOSSUS_POWER_STALL      "burn": hold the power floor during the job's own stalls (set by
                            Colossus when the site has an allowed ramp, docs/power.md): every
                            rank runs a dummy matrix product while it waits on a checkpoint,
                            as Meta's training stack does, so the site's draw does not drop
                            and surge back; anything else or unset: nothing changes
  COLOSSUS_POWER_STALL_INTENSITY  the share of a stall spent computing, 0 to 1 (default 1)
Knobs:
  TRAIN_STEPS (300)  TRAIN_CKPT_EVERY (10)  TRAIN_BATCH (32 per rank)  TRAIN_SEED (1234)
  TRAIN_LR (0.05)  TRAIN_STEP_SLEEP (seconds per step, 0; lets a test kill a run mid-way)
  TRAIN_TIMEOUT (seconds to wait for the other ranks, 120)
  TRAIN_FAIL_RANK / TRAIN_FAIL_STEP: that rank exits with status 3 at that step (a user
  error, for tests of failure handling)
  TRAIN_CKPT_SLEEP (seconds added to each checkpoint write, 0: slow storage, for tests)
"""
import datetime
import json
import os
import sys
import threading
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

IN, HIDDEN = 8, 16
CKPT_NAME = "checkpoint.pt"
FINAL_NAME = "final.json"


def env_int(name, default):
    value = os.environ.get(name, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        sys.exit(f"train.py: {name}={value!r} is not an integer")


def env_float(name, default):
    value = os.environ.get(name, "")
    if value == "":
        return default
    try:
        return float(value)
    except ValueError:
        sys.exit(f"train.py: {name}={value!r} is not a number")


def log(msg):
    print(f"[rank {os.environ.get('RANK', '?')}] {msg}", flush=True)


def make_model():
    return torch.nn.Sequential(
        torch.nn.Linear(IN, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, 1)
    )


def flops_per_step(model, batch_size):
    """Model FLOPs of one training step of one rank: 6 x parameters x samples.

    A dense layer's forward pass does one multiply and one add (2 FLOPs) per weight per
    sample; its backward pass twice that (the gradient of its input and of its weights), so a
    step costs 6 FLOPs per parameter per sample: the "6ND" of transformer training (N
    parameters, D tokens; Kaplan et al. 2020), the convention behind model FLOPs utilisation.
    It counts the model's arithmetic, not the optimizer's or the all-reduce's, nor a
    recomputation; here it is a slight overcount (biases, and the first layer needs no input
    gradient). For a transformer, D is the tokens of the step's batch on this rank."""
    params = sum(p.numel() for p in model.parameters())
    return 6 * params * batch_size


class FlopsReport:
    """The FLOPs this rank executed in this run, in COLOSSUS_FLOPS_FILE (one decimal number,
    rewritten as it grows: tmp file + rename, so the agent never reads half of one), at most
    once a second and at the end."""

    def __init__(self):
        self.path = os.environ.get("COLOSSUS_FLOPS_FILE", "")
        self.total = 0
        self.written = 0.0

    def add(self, flops, final=False):
        self.total += flops
        now = time.monotonic()
        if self.path and (final or now - self.written >= 1.0):
            tmp = f"{self.path}.tmp"
            with open(tmp, "w") as f:
                f.write(f"{self.total}\n")
            os.replace(tmp, self.path)
            self.written = now


def batch(seed, step, rank, size):
    """The batch of one rank at one step: a pure function of its arguments."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + step * 4_099 + rank) % (2**62))
    x = torch.randn(size, IN, generator=g)
    w = torch.linspace(-1.0, 1.0, IN)
    y = (x @ w).unsqueeze(1) + 0.3 * torch.sin(3.0 * x[:, :1]) + 0.01 * torch.randn(
        size, 1, generator=g
    )
    return x, y


def ordered_mean_hook(_state, bucket):
    """DDP communication hook: the mean of the gradients, summed in rank order.

    Gloo's ring allreduce adds the ranks' values in an order that depends on where a gradient
    sits in DDP's bucket, and DDP re-lays out its buckets after the first step of every run,
    so a resumed run would drift from an uninterrupted one in the last bits. Gathering the
    buckets and adding them rank by rank gives the same bits whatever the layout."""
    buf = bucket.buffer()
    parts = [torch.empty_like(buf) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, buf)
    total = parts[0].clone()
    for part in parts[1:]:
        total += part
    total /= len(parts)
    fut = torch.futures.Future()
    fut.set_result(total)
    return fut


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path, write):
    """write(f) into path.tmp, fsync, rename over path: readers see the old or the new file,
    never half of one, even if we are killed in the middle."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path) or ".")


class StallFloor:
    """The power floor during this rank's own stalls (COLOSSUS_POWER_STALL=burn): while a
    `with floor:` block waits (a checkpoint), a thread runs a dummy matrix product on the
    rank's device for `intensity` of each 10 ms, so the GPU's draw stays up instead of dropping
    for the stall and surging back after it (docs/power.md). Its results are thrown away: the
    training itself is bit-for-bit the same with it or without it."""

    PERIOD = 0.010

    def __init__(self, intensity, device):
        self.intensity = intensity
        self.device = device
        self.products = 0
        self.stalls = 0
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread = None
        self._t0 = 0.0

    def _burn(self):
        a = torch.rand(256, 256, device=self.device)
        b = torch.rand(256, 256, device=self.device)
        while not self._stop.is_set():
            t0 = time.monotonic()
            while time.monotonic() - t0 < self.intensity * self.PERIOD:
                torch.mm(a, b)
                self.products += 1
            rest = self.PERIOD - (time.monotonic() - t0)
            if rest > 0:
                self._stop.wait(rest)

    def __enter__(self):
        self._stop.clear()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._burn, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.stalls += 1
        self.seconds += time.monotonic() - self._t0
        return False


def stall_floor():
    """A StallFloor when Colossus (or the user) asks for one, else None."""
    if os.environ.get("COLOSSUS_POWER_STALL", "") != "burn":
        return None
    x = env_float("COLOSSUS_POWER_STALL_INTENSITY", 1.0)
    if not 0 < x <= 1:
        sys.exit(f"train.py: COLOSSUS_POWER_STALL_INTENSITY={x} is not in (0, 1]")
    return StallFloor(x, "cuda" if torch.cuda.is_available() else "cpu")


def checkpoint(rank, done, world, seed, model, opt, loss, path, sleep):
    """Rank 0 writes the checkpoint of step `done` (the others have nothing to do)."""
    if rank != 0:
        return
    state = {
        "version": 1,
        "step": done,
        "world_size": world,
        "seed": seed,
        "model": model.state_dict(),
        "optim": opt.state_dict(),
    }
    atomic_write(path, lambda f: torch.save(state, f))
    if sleep > 0:
        time.sleep(sleep)
    log(f"checkpoint step={done} loss={loss.item():.6f}")


def main():
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            sys.exit(f"train.py: {name} is not set (run it under Colossus or torchrun)")
    rank = env_int("RANK", 0)
    world = env_int("WORLD_SIZE", 1)
    steps = env_int("TRAIN_STEPS", 300)
    every = env_int("TRAIN_CKPT_EVERY", 10)
    bsz = env_int("TRAIN_BATCH", 32)
    seed = env_int("TRAIN_SEED", 1234)
    lr = env_float("TRAIN_LR", 0.05)
    pause = env_float("TRAIN_STEP_SLEEP", 0.0)
    timeout = env_float("TRAIN_TIMEOUT", 120.0)
    fail_rank = env_int("TRAIN_FAIL_RANK", -1)
    fail_step = env_int("TRAIN_FAIL_STEP", -1)
    ckpt_sleep = env_float("TRAIN_CKPT_SLEEP", 0.0)
    floor = stall_floor()
    if steps < 1 or every < 1 or bsz < 1:
        sys.exit("train.py: TRAIN_STEPS, TRAIN_CKPT_EVERY and TRAIN_BATCH must be positive")
    ckpt_dir = os.environ.get("COLOSSUS_CHECKPOINT_DIR") or "checkpoints"
    ckpt_path = os.path.join(ckpt_dir, CKPT_NAME)
    if rank == 0:
        os.makedirs(ckpt_dir, exist_ok=True)

    # Bit-for-bit reproducible on CPU: one thread per rank, deterministic kernels.
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)

    dist.init_process_group(
        "gloo", init_method="env://", timeout=datetime.timedelta(seconds=timeout)
    )
    assert dist.get_rank() == rank and dist.get_world_size() == world
    log(
        f"world {world}, local rank {os.environ.get('LOCAL_RANK', '?')}, "
        f"restart {os.environ.get('COLOSSUS_RESTART', '0')}, "
        f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')!r}, "
        f"checkpoints in {os.path.abspath(ckpt_dir)}"
    )

    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)

    # Rank 0 reads the latest checkpoint and sends it to everyone: all ranks resume from
    # the same step even if only rank 0 can see the checkpoint directory.
    box = [None]
    if rank == 0 and os.path.exists(ckpt_path):
        box[0] = torch.load(ckpt_path)
    dist.broadcast_object_list(box, src=0)
    start = 0
    if box[0] is not None:
        state = box[0]
        if state.get("world_size") != world:
            log(f"note: checkpoint was written with world size {state.get('world_size')}")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        start = int(state["step"])
        log(f"resumed from checkpoint at step {start}")
    else:
        log("no checkpoint: starting at step 0")
    box = None

    ddp = DDP(model)  # broadcasts rank 0's parameters, then averages gradients
    ddp.register_comm_hook(None, ordered_mean_hook)
    loss_fn = torch.nn.MSELoss()
    loss = torch.zeros(())
    step_flops = flops_per_step(model, bsz)
    report = FlopsReport()
    for step in range(start, steps):
        if rank == fail_rank and step == fail_step:
            log(f"failing on purpose at step {step}")
            sys.exit(3)
        x, y = batch(seed, step, rank, bsz)
        opt.zero_grad()
        loss = loss_fn(ddp(x), y)
        loss.backward()
        opt.step()
        done = step + 1
        report.add(step_flops, final=done == steps)
        if done % every == 0 or done == steps:
            if floor:  # every rank waits on the checkpoint, burning
                with floor:
                    checkpoint(rank, done, world, seed, model, opt, loss, ckpt_path, ckpt_sleep)
                    dist.barrier()
            else:
                checkpoint(rank, done, world, seed, model, opt, loss, ckpt_path, ckpt_sleep)
        if pause > 0:
            time.sleep(pause)

    # The mean loss of the last step over all ranks.
    total = loss.detach().clone()
    dist.all_reduce(total)
    mean_loss = total.item() / world
    if rank == 0:
        result = {
            "steps": steps,
            "resumed_from": start,
            "restart": env_int("COLOSSUS_RESTART", 0),
            "world_size": world,
            "loss": mean_loss,
            "params": {
                name: [float(v).hex() for v in p.detach().flatten().tolist()]
                for name, p in model.state_dict().items()
            },
        }
        data = json.dumps(result, indent=1, sort_keys=True).encode()
        atomic_write(os.path.join(ckpt_dir, FINAL_NAME), lambda f: f.write(data))
        log(f"done: {steps} steps (resumed from {start}), final loss {mean_loss:.6f}")
    if floor:
        log(
            f"power stall floor: {floor.products} dummy products on {floor.device} "
            f"over {floor.seconds:.2f} s in {floor.stalls} checkpoint stalls"
        )
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
