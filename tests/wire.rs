mod common;
use common::TestServer;

#[tokio::test]
async fn smoke() {
    let s = TestServer::start();
    let c = s.connect().await;
    let r = c.simple_query("select 1").await.unwrap();
    println!("{r:?}");
}
