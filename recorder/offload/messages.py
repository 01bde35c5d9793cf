"""What the officer or technician reads at the dock during and after an offload (zh-CN, en)."""

MESSAGES = {
    "progress": {"zh-CN": "上传中：{done}/{total} 个文件，已发送 {mib:.1f} MiB",
                 "en": "offloading: {done}/{total} files, {mib:.1f} MiB sent"},
    "link": {"zh-CN": "已连接扩展坞 {dock}（TLS 1.3，{cipher}）", "en": "connected to dock {dock} (TLS 1.3, {cipher})"},
    "done": {"zh-CN": "上传完成：扩展坞见证账本至 {head}；本次接收 {sent} 个文件；凭回执释放 {released} 个文件",
             "en": "offload done: the dock witnessed the ledger up to {head}; it took {sent} file(s); "
                   "{released} file(s) freed under its receipt"},
    "withheld": {"zh-CN": "以下会话未通过扩展坞校验，文件保留在设备上待人工处理：{sessions}",
                 "en": "these sessions did not verify at the dock; their files stay on the device for manual "
                       "handling: {sessions}"},
    "refused": {"zh-CN": "扩展坞拒绝：{code}（{detail}）；设备上未释放任何文件",
                "en": "the dock refused: {code} ({detail}); nothing was freed on the device"},
    "failed": {"zh-CN": "连接一再中断：{detail}；扩展坞已收到的部分保留，重新插入后继续",
               "en": "the link kept failing: {detail}; what the dock holds stays there, dock again to go on"},
}


def message(key: str, language: str, **facts) -> str:
    return MESSAGES[key][language].format(**facts)
