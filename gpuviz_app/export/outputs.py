"""The files one command will write, checked together before any work: a known type for each,
no file named twice, none existing unless overwriting was allowed, every folder writable."""

from __future__ import annotations

from gpuviz_app.export.atomic import OutputExists, OutputNotWritable, SameOutput, check_outputs


def output_problem(video: str | None = None, image: str | None = None, csv: str | None = None,
                   overwrite: bool = False, force_flag: str = "--force") -> str | None:
    """One sentence saying why these outputs cannot be written, or None. `force_flag` names the
    setting that allows overwriting."""
    from gpuviz_app.export.image import ImageFormatError, image_format
    from gpuviz_app.export.video import VideoFormatError, video_format

    try:
        check_outputs([video, image, csv], overwrite)
        if video:
            video_format(video)
        if image:
            image_format(image)
    except OutputExists as exc:
        return f"{exc.path}: already exists (use {force_flag} to overwrite)"
    except (OutputNotWritable, SameOutput, VideoFormatError, ImageFormatError) as exc:
        return str(exc)
    return None
