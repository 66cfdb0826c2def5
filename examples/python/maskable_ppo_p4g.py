"""sb3-contrib MaskablePPO on the shipped PersuasionForGood config, through the
vectorised environment; the policy is exported with torch.onnx.export and sealed
into a copy of the persuasion bundle. Run once by hand, outside CI (torch is a
large download):

    pip install "sb3-contrib>=2.3" torch onnx          # plus the talktrack wheel
    python examples/python/maskable_ppo_p4g.py out/maskable-ppo-p4g
    target/debug/talktrack check out/maskable-ppo-p4g/bundle

It writes `policy.onnx` (input `obs` f32 [batch, obs_dim], output `scores`, the
policy's action logits [batch, n_tracks], as the bundle's `[policy]` declares) and
`bundle/`: the persuasion bundle with that policy, sealed with `talktrack seal`
(which rewrites the policy's SHA-256 in `bundle.toml`). The compliance rules stay
the bundle's: the learned logits only rank what the rules permit.
"""

import pathlib
import shutil
import subprocess
import sys

import numpy as np
import torch
from sb3_contrib import MaskablePPO

import talktrack

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "p4g_reference.toml"
TEMPLATE = ROOT / "policies" / "persuasion"
STEPS = 200_000
SEED = 0


class Logits(torch.nn.Module):
    """The policy network's action logits for an observation (no mask: the
    bundle's rules mask at serving time)."""

    def __init__(self, policy):
        super().__init__()
        self.policy = policy

    def forward(self, obs):
        features = self.policy.extract_features(obs, self.policy.pi_features_extractor)
        latent_pi = self.policy.mlp_extractor.forward_actor(features)
        return self.policy.action_net(latent_pi)


def main(out):
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    env = talktrack.TalkTrackVecEnv(CONFIG, num_envs=64, seed=SEED)
    model = MaskablePPO("MlpPolicy", env, seed=SEED, n_steps=64, batch_size=1024, verbose=1)
    model.learn(total_timesteps=STEPS)

    net = Logits(model.policy).eval()
    obs = torch.zeros(1, env.observation_space.shape[0], dtype=torch.float32)
    onnx_path = out / "policy.onnx"
    torch.onnx.export(
        net,
        (obs,),
        str(onnx_path),
        input_names=["obs"],
        output_names=["scores"],
        dynamic_axes={"obs": {0: "batch"}, "scores": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )

    # A greedy episode check: the exported logits rank like the trained policy.
    venv_obs = env.reset()
    with torch.no_grad():
        exported = net(torch.as_tensor(venv_obs)).numpy()
    masks = env.action_masks()
    masked = np.where(masks, exported, -np.inf)
    actions, _ = model.predict(venv_obs, action_masks=masks, deterministic=True)
    agree = float(np.mean(masked.argmax(axis=1) == actions))
    print(f"exported logits choose as the trained policy on {agree:.0%} of start states")

    bundle = out / "bundle"
    if bundle.exists():
        shutil.rmtree(bundle)
    shutil.copytree(TEMPLATE, bundle)
    shutil.copy(onnx_path, bundle / "policy.onnx")
    # The CLI as the workspace's test build makes it (the same feature set).
    subprocess.run(
        ["cargo", "test", "--quiet", "--workspace", "--all-features", "--no-run"],
        cwd=ROOT,
        check=True,
    )
    cli = [str(ROOT / "target" / "debug" / "talktrack")]
    subprocess.run([*cli, "seal", str(bundle)], cwd=ROOT, check=True)
    subprocess.run([*cli, "check", str(bundle)], cwd=ROOT, check=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
