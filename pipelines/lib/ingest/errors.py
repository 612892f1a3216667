"""The one exception ingestion raises for input that breaks the contract."""


class IngestError(Exception):
    """A landing batch, or a file in it, that cannot be loaded as the contract says.

    The message names the batch, the file and what was expected; it never quotes a
    value from the file, since files hold PHI.

    Attributes:
        detail: What is wrong, without the batch and file prefix.
        batch_id: The batch (`<source>/<batch>`), when known.
        file: The file inside the batch, when the problem is in one file.
    """

    def __init__(
        self, detail: str, *, batch_id: str | None = None, file: str | None = None
    ) -> None:
        """Build the error; the message starts with the batch and the file."""
        where = [f"batch {batch_id}"] if batch_id else []
        where += [f"file {file}"] if file else []
        super().__init__(f"{', '.join(where)}: {detail}" if where else detail)
        self.detail = detail
        self.batch_id = batch_id
        self.file = file

    def in_batch(self, batch_id: str) -> "IngestError":
        """Return the same error with its batch named."""
        if self.batch_id is not None:
            return self
        return IngestError(self.detail, batch_id=batch_id, file=self.file)
