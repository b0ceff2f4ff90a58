//! Upgraded (hijacked) streams — attach, exec, BuildKit sessions — moved between the client's and
//! the engine's unix sockets by the kernel: `splice` through a pipe per direction, with half-close.

use std::io;

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use rustix::pipe::{fcntl_setpipe_size, pipe_with, splice, PipeFlags, SpliceFlags};
use tokio::io::Interest;
use tokio::net::UnixStream;

/// Bytes moved per `splice`: the pipe is grown to this (the kernel's default cap,
/// `fs.pipe-max-size`, is 1 MiB); a smaller pipe only means more calls.
const PIPE_SIZE: usize = 1 << 20;

/// Moves bytes both ways until both sides have closed their sending half; each side's end is
/// passed on as a half-close, so `docker attach` with stdin closed keeps reading output.
pub async fn relay(client: Upgraded, engine: Upgraded) -> io::Result<()> {
    // Both sides are ours: hyper served the client over, and dialled the engine with, a plain
    // unix socket. Anything else (never the case today) is copied through user space.
    let client = match client.downcast::<TokioIo<UnixStream>>() {
        Ok(parts) => (parts.io.into_inner(), parts.read_buf),
        Err(client) => return copy(TokioIo::new(client), TokioIo::new(engine)).await,
    };
    let engine = match engine.downcast::<TokioIo<UnixStream>>() {
        Ok(parts) => (parts.io.into_inner(), parts.read_buf),
        Err(engine) => {
            let (mut c, early) = client;
            let mut e = TokioIo::new(engine);
            tokio::io::AsyncWriteExt::write_all(&mut e, &early).await?;
            return tokio::io::copy_bidirectional(&mut c, &mut e)
                .await
                .map(drop);
        }
    };
    // Bytes hyper read past either side's head already belong to the stream: they go first.
    let ((client, client_early), (engine, engine_early)) = (client, engine);
    tokio::try_join!(
        async {
            write_all(&engine, &client_early).await?;
            one_way(&client, &engine).await
        },
        async {
            write_all(&client, &engine_early).await?;
            one_way(&engine, &client).await
        },
    )?;
    Ok(())
}

async fn copy(mut a: TokioIo<Upgraded>, mut b: TokioIo<Upgraded>) -> io::Result<()> {
    tokio::io::copy_bidirectional(&mut a, &mut b)
        .await
        .map(drop)
}

/// One direction: socket → pipe → socket until the sender's end, then a half-close.
async fn one_way(from: &UnixStream, to: &UnixStream) -> io::Result<()> {
    let (pipe_out, pipe_in) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
    let capacity = fcntl_setpipe_size(&pipe_in, PIPE_SIZE).unwrap_or(1 << 16);
    let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
    loop {
        // The pipe is empty here, so `EAGAIN` can only mean the socket has nothing to read.
        let n = from
            .async_io(Interest::READABLE, || {
                Ok(splice(from, None, &pipe_in, None, capacity, flags)?)
            })
            .await?;
        if n == 0 {
            break;
        }
        let mut left = n;
        while left > 0 {
            // The pipe holds `left` bytes, so `EAGAIN` can only mean the socket is full.
            left -= to
                .async_io(Interest::WRITABLE, || {
                    Ok(splice(&pipe_out, None, to, None, left, flags)?)
                })
                .await?;
        }
    }
    rustix::net::shutdown(to, rustix::net::Shutdown::Write)?;
    Ok(())
}

async fn write_all(to: &UnixStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = to
            .async_io(Interest::WRITABLE, || to.try_write(buf))
            .await?;
        buf = &buf[n..];
    }
    Ok(())
}
