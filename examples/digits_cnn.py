"""Train a small CNN from scratch on scikit-learn's 8x8 digits, with
windowkit's forward and backward passes only (no autograd, no framework).

    python examples/digits_cnn.py [--epochs 20] [--pooling max|min] [--out DIR]

The network, its backward pass and the SGD loop are in
``windowkit/_cnn.py`` (``windowkit demo --cnn`` runs the same code): conv
3x3 -> ReLU -> max_pool 2 -> conv 3x3 -> ReLU -> dense -> softmax. Prints
the held-out accuracy and the training time, and writes the loss/accuracy
curve with the first layer's learned kernels to DIR/digits_cnn.png. Needs
the plot extra (scikit-learn, matplotlib).
"""

import argparse
from pathlib import Path

from windowkit import _cnn


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--pooling", choices=("max", "min"), default="max")
    parser.add_argument("--out", type=Path, default=Path("windowkit-demo"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    def progress(history):
        epoch = len(history["loss"])
        print(f"epoch {epoch:2d}: loss {history['loss'][-1]:.4f}, "
              f"held-out accuracy {history['accuracy'][-1]:.1%}", flush=True)

    params, history = _cnn.train(epochs=args.epochs, pooling=args.pooling, progress=progress)
    print(_cnn.report(history))
    print(f"figure: {_cnn.figure(params, history, args.out / 'digits_cnn.png')}")


if __name__ == "__main__":
    main()
