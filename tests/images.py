"""Real image files for the preprocessing and inference tests, written with PIL."""

import numpy as np
from PIL import Image

# (name, width, height, PIL mode): odd sizes, both orientations, every mode PIL
# converts to RGB on load (grey, alpha, palette)
IMAGES = (
    ('landscape.jpg', 300, 241, 'RGB'),
    ('portrait.png', 180, 333, 'RGB'),
    ('square_grey.png', 257, 257, 'L'),
    ('alpha.png', 320, 240, 'RGBA'),
    ('palette.png', 97, 150, 'P'),
)


def write_image(
    path, width: int, height: int, mode: str = 'RGB', seed: int = 0, orientation: int = 0
) -> str:
    """A smooth random colour field (blocks upsampled bicubically) with noise, saved by
    PIL; ``orientation`` > 0 writes that EXIF orientation tag (6: rotated 90 degrees)."""
    rng = np.random.RandomState(seed)
    blocks = rng.randint(0, 256, (height // 16 + 2, width // 16 + 2, 3)).astype(np.uint8)
    img = np.asarray(Image.fromarray(blocks).resize((width, height), Image.BICUBIC))
    noise = rng.randint(-12, 13, img.shape)
    img = Image.fromarray(np.clip(img.astype(int) + noise, 0, 255).astype(np.uint8))
    if mode != 'RGB':
        img = img.convert(mode)
    options = {'quality': 92} if str(path).endswith('.jpg') else {}
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options['exif'] = exif
    img.save(str(path), **options)
    return str(path)


def write_images(folder) -> list:
    """:data:`IMAGES` written into ``folder``, and a JPEG with an EXIF rotation; their paths."""
    paths = [
        write_image(folder / name, w, h, mode, seed)
        for seed, (name, w, h, mode) in enumerate(IMAGES)
    ]
    return paths + [write_image(folder / 'exif_rotated.jpg', 200, 120, seed=9, orientation=6)]
