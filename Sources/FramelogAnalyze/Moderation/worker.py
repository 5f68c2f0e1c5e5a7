"""Framelog's model worker: scores pictures with an ONNX model, for `framelog analyze`.

Started and supervised by the analyzer (which writes this file out of its binary and runs it with the
project's Python). Protocol (docs/moderation.md), all on stdin/stdout:

  request   one line of JSON, {"id": <int>, "bytes": <n>}, then exactly n bytes of an encoded picture
            (JPEG or PNG)
  reply     one line of JSON per request, in order:
            {"id": <int>, "scores": {"<label>": <0..1>, ...}, "ms": <model time>}
            {"id": <int>, "error": "<why>"}          the picture could not be scored; the worker goes on
            {"id": null, "error": "<why>"}           a request line that is not a request; it is skipped
  first     {"ready": {"model": <name>, "labels": [...], "version": 1}} once the model is loaded, or
            {"fatal": "<why>"} and exit status 2 when it cannot be

Diagnostics go to stderr. The model description (--description FILE, JSON) names the model file and its
pre-processing; see docs/moderation.md. Nothing is ever downloaded.
"""

import argparse
import hashlib
import importlib.util
import io
import json
import os
import sys
import time

PROTOCOL_VERSION = 1
MAX_PICTURE = 32 * 1024 * 1024


def say(out, message):
    out.write((json.dumps(message, separators=(",", ":")) + "\n").encode())
    out.flush()


def model_path(description, base):
    """The model file: `package:NAME/FILE` is a file inside an installed Python package (found without
    importing it, so no package code runs); anything else is a path, relative to the description's folder."""
    where = description["model"]
    if where.startswith("package:"):
        package, _, name = where[len("package:"):].partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"the Python package {package} is not installed")
        return os.path.join(list(spec.submodule_search_locations)[0], name)
    return where if os.path.isabs(where) else os.path.join(base, where)


def check_sha256(path, expected):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected.lower():
        raise RuntimeError(f"{path} has sha256 {digest.hexdigest()}, not {expected}")


class Model:
    def __init__(self, description, base, threads):
        import numpy
        import onnxruntime
        from PIL import Image

        self.numpy, self.Image = numpy, Image
        path = model_path(description, base)
        if not os.path.isfile(path):
            raise RuntimeError(f"no model file at {path}")
        if description.get("sha256"):
            check_sha256(path, description["sha256"])
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        p = description["input"]
        self.input_name = p["name"]
        self.resize = tuple(p["resize"]) if p.get("resize") else None
        self.crop = tuple(p["crop"]) if p.get("crop") else None
        self.order = p.get("channels", "RGB")
        self.layout = p.get("layout", "NHWC")
        self.mean = numpy.array(p.get("mean", [0, 0, 0]), dtype=numpy.float32)
        self.scale = float(p.get("scale", 1.0))
        self.jpeg_roundtrip = bool(p.get("jpegRoundTrip", False))
        o = description["output"]
        self.output_name = o["name"]
        self.labels = o["labels"]
        self.activation = o.get("activation", "none")

    def prepare(self, data):
        Image, numpy = self.Image, self.numpy
        picture = Image.open(io.BytesIO(data))
        picture.load()
        picture = picture.convert("RGB")
        if self.resize:
            picture = picture.resize(self.resize, resample=Image.Resampling.BILINEAR)
        if self.crop:
            w, h = picture.size
            cw, ch = self.crop
            left, top = (w - cw) // 2, (h - ch) // 2
            picture = picture.crop((left, top, left + cw, top + ch))
        if self.jpeg_roundtrip:
            # The reference pipeline of some models (open_nsfw) scores a JPEG of the prepared picture.
            buffer = io.BytesIO()
            picture.save(buffer, format="JPEG")
            buffer.seek(0)
            picture = Image.open(buffer)
        pixels = numpy.asarray(picture, dtype=numpy.float32)
        if self.order == "BGR":
            pixels = pixels[:, :, ::-1]
        pixels = (pixels - self.mean) * self.scale
        if self.layout == "NCHW":
            pixels = pixels.transpose(2, 0, 1)
        return numpy.ascontiguousarray(pixels[None, ...], dtype=numpy.float32)

    def score(self, data):
        batch = self.prepare(data)
        started = time.perf_counter()
        (out,) = self.session.run([self.output_name], {self.input_name: batch})
        ms = (time.perf_counter() - started) * 1000
        values = out.reshape(-1)[: len(self.labels)].astype("float64")
        if self.activation == "softmax":
            e = self.numpy.exp(values - values.max())
            values = e / e.sum()
        elif self.activation == "sigmoid":
            values = 1 / (1 + self.numpy.exp(-values))
        return {label: round(float(v), 6) for label, v in zip(self.labels, values)}, ms


def serve(model, source, out):
    while True:
        line = source.readline()
        if not line:
            return
        try:
            request = json.loads(line)
            ident, size = request["id"], request["bytes"]
            if not isinstance(ident, int) or not isinstance(size, int) or not 0 <= size <= MAX_PICTURE:
                raise ValueError("id and bytes must be integers, bytes at most 32 MiB")
        except (ValueError, KeyError, TypeError) as error:
            say(out, {"id": None, "error": f"not a request line: {error}"})
            continue
        data = source.read(size)
        if len(data) < size:
            return
        try:
            scores, ms = model.score(data)
            say(out, {"id": ident, "scores": scores, "ms": round(ms, 3)})
        except Exception as error:  # a picture that cannot be scored must not end the worker
            say(out, {"id": ident, "error": f"{type(error).__name__}: {error}"})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--description", required=True, help="the model description (JSON)")
    parser.add_argument("--threads", type=int, default=1, help="threads the model may use (default 1)")
    args = parser.parse_args()
    out = sys.stdout.buffer
    try:
        with open(args.description) as f:
            description = json.load(f)
        model = Model(description, os.path.dirname(os.path.abspath(args.description)), args.threads)
    except Exception as error:
        say(out, {"fatal": f"cannot load the model: {type(error).__name__}: {error}"})
        sys.exit(2)
    say(out, {"ready": {"model": description.get("name", "model"), "labels": model.labels,
                        "version": PROTOCOL_VERSION}})
    try:
        serve(model, sys.stdin.buffer, out)
    except (BrokenPipeError, KeyboardInterrupt):
        pass


if __name__ == "__main__":
    main()
