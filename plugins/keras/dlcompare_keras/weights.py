"""ImageNet weights for the Keras bodies, through Keras's own cache (``$KERAS_HOME/models``).

The file names, URLs and MD5 hashes are those ``keras.applications`` uses for the no-top
weights, so a cache filled by plain Keras (or copied from another machine) is found here and
vice versa. A cached file is used as it is (no network, no hash check: offline machines work
from a pre-seeded cache); a missing one is downloaded once with ``keras.utils.get_file``, and when
that fails :func:`ensure` raises a one-line UserError naming the file and the URL. ``resnet18``
has no Keras ImageNet weights (Keras ships no ResNet-18), so it can only start from scratch.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from dlcompare.errors import UserError

BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"
# arch -> (URL folder, file name, md5) of keras.applications' include_top=False weights.
NO_TOP = {
    "vgg16": ("vgg16/", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc"),
    "vgg19": ("vgg19/", "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", "253f8cb515780f3b799900260a226db6"),
    "resnet50": ("resnet/", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("resnet/", "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5", "88cf7a10940856eca736dc7b7e228a21"),
    "densenet121": ("densenet/", "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5", "30ee3e1110167f948a6b9946edeeb738"),
    "densenet169": ("densenet/", "densenet169_weights_tf_dim_ordering_tf_kernels_notop.h5", "b8c4d4c20dd625c148057b9ff1c1176b"),
}
CACHE_SUBDIR = "models"
DOWNLOAD_TIMEOUT_S = 60


def keras_home() -> Path:
    """Keras's base directory: ``$KERAS_HOME``, else ``~/.keras`` (``/tmp/.keras`` if home is read-only)."""
    if "KERAS_HOME" in os.environ:
        return Path(os.environ["KERAS_HOME"])
    home = os.path.expanduser("~")
    return Path(home if os.access(home, os.W_OK) else "/tmp") / ".keras"


def url(arch: str) -> str:
    folder, name, _ = NO_TOP[arch]
    return BASE + folder + name


def cached_path(arch: str) -> Path:
    """Where the Keras cache keeps (or would keep) the no-top weights of ``arch``."""
    if arch not in NO_TOP:
        raise UserError(f"Keras has no ImageNet weights for {arch!r} (it has them for "
                        f"{', '.join(NO_TOP)}); use --set train.pretrained=none")
    return keras_home() / CACHE_SUBDIR / NO_TOP[arch][1]


def ensure(arch: str, log=print) -> Path:
    """The cached weights file of ``arch``, downloaded once when missing; UserError otherwise."""
    path = cached_path(arch)
    if path.is_file():
        return path
    import keras

    log(f"downloading Keras ImageNet weights for {arch} from {url(arch)}")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        got = keras.utils.get_file(path.name, url(arch), cache_subdir=CACHE_SUBDIR,
                                   file_hash=NO_TOP[arch][2], cache_dir=str(keras_home()))
    except Exception as exc:   # urllib, HTTP and hash errors all mean "not available here"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"Keras ImageNet weights for {arch} are not cached at {path} and could not "
                        f"be downloaded ({reason}); copy {url(arch)} there (KERAS_HOME selects the "
                        f"cache) or use --set train.pretrained=none") from None
    finally:
        socket.setdefaulttimeout(previous)
    return Path(got)
