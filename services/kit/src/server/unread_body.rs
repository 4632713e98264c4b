//! An answer given before its request's body was read closes the connection, and says so.
//!
//! A handler may answer without reading the body it was sent: an unknown route, a method the
//! route does not take, a refused caller, a timeout. hyper then reads what of that body has
//! already arrived and, when some of it is still on its way, closes the connection once the
//! answer is written. But the answer went out announcing keep-alive, so a client that pools
//! connections (the gateway, and every service's own client) may send its next request on a
//! connection the server is closing, and that request fails without an answer. One that cannot
//! be replayed, a POST, then fails for nothing: the gateway answered 503 to a `QUERY` on
//! `/api/v1/checkout` sent 2 ms after a `TRACE` with a body that the order service had
//! answered 405.
//!
//! So such an answer carries `Connection: close`, and the client opens a new connection for its
//! next request. Only HTTP/1 needs it (HTTP/2 resets one stream, not the connection), and only a
//! request with a body pays for the check: one flag shared with its body.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Version, header};
use futures::future::{BoxFuture, Either};
use http_body::{Frame, SizeHint};
use tower::{Layer, Service};

/// The layer of [`CloseOnUnreadBody`].
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct CloseOnUnreadBodyLayer;

impl<S> Layer<S> for CloseOnUnreadBodyLayer {
    type Service = CloseOnUnreadBody<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CloseOnUnreadBody { inner }
    }
}

/// Middleware adding `Connection: close` to an HTTP/1 answer whose request body was not read
/// to its end.
#[derive(Clone, Debug)]
pub(super) struct CloseOnUnreadBody<S> {
    inner: S,
}

impl<S, B> Service<Request> for CloseOnUnreadBody<S>
where
    S: Service<Request, Response = http::Response<B>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<B>;
    type Error = S::Error;
    type Future = Either<S::Future, BoxFuture<'static, Result<http::Response<B>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let http1 = request.version() <= Version::HTTP_11;
        if !http1 || http_body::Body::is_end_stream(request.body()) {
            return Either::Left(self.inner.call(request));
        }
        let read = Arc::new(AtomicBool::new(false));
        let request = request.map(|body| {
            Body::new(Watched {
                inner: body,
                read: read.clone(),
            })
        });
        let answer = self.inner.call(request);
        Either::Right(Box::pin(async move {
            let mut response = answer.await?;
            if !read.load(Ordering::Acquire) {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response)
        }))
    }
}

/// A request body that raises `read` once it has ended. An error (a body over the limit, a
/// client gone) leaves it down: hyper closes that connection too.
struct Watched {
    inner: Body,
    read: Arc<AtomicBool>,
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        // A reader that knows the length stops at the last frame without asking for the end.
        let ended = match &frame {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            _ => false,
        };
        if ended {
            self.read.store(true, Ordering::Release);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
