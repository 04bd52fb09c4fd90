# cluster_train_ddp.py - a small data-parallel PyTorch job for cluster_train.sh when examples/train.py
# is absent: gloo from env://, checkpoint every CKPT_EVERY steps to COLOSSUS_CHECKPOINT_DIR, resume.
import hashlib, os, sys, time
import torch, torch.distributed as dist
STEPS = int(os.environ.get("STEPS", "60")); EVERY = int(os.environ.get("CKPT_EVERY", "10"))
dist.init_process_group("gloo", init_method="env://")
rank, world = dist.get_rank(), dist.get_world_size()
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
# Gradients are averaged one tensor at a time in a fixed order (not DDP's buckets, which are
# rebuilt after the first step and so sum in another order after a resume): bit-exact resume.
for p in model.parameters():
    dist.broadcast(p.data, 0)
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
ck = os.path.join(os.environ["COLOSSUS_CHECKPOINT_DIR"], "ckpt.pt")
start = 0
if os.path.exists(ck):
    st = torch.load(ck)
    model.load_state_dict(st["model"]); opt.load_state_dict(st["opt"]); start = st["step"]
print(f"rank {rank}/{world} restart {os.environ.get('COLOSSUS_RESTART')} starting at step {start}", flush=True)
for step in range(start, STEPS):
    g = torch.Generator().manual_seed(1000 * step + rank)
    x = torch.randn(64, 16, generator=g); y = x.sum(dim=1, keepdim=True).sin()
    opt.zero_grad(); loss = torch.nn.functional.mse_loss(model(x), y); loss.backward()
    for p in model.parameters():
        dist.all_reduce(p.grad)
        p.grad /= world
    opt.step()
    if (step + 1) % EVERY == 0 and rank == 0:
        os.makedirs(os.path.dirname(ck), exist_ok=True)
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step + 1}, ck + ".tmp")
        os.replace(ck + ".tmp", ck)
        print(f"step {step + 1} loss {loss.item():.6f} checkpointed", flush=True)
    time.sleep(float(os.environ.get("STEP_SLEEP", "0.1")))
h = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()
print(f"final params sha256 {h}", flush=True)
dist.barrier()
dist.destroy_process_group()
