//! WebSocket connections (`GET /ws`): one task pair per connection. The read loop
//! ([`connection`]) parses and authorizes frames; the write loop ([`writer`]) drains a bounded
//! queue ([`outbound`]) into the socket.

pub mod connection;
pub mod outbound;
pub mod rate;
pub mod writer;

pub use connection::upgrade;
