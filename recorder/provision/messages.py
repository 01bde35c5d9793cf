"""What `recorder provision` tells the technician, in zh-CN (the default) and en."""

MESSAGES = {
    "request": {
        "zh-CN": "设备 {device_id} 已生成密钥（存于 {generation}，不在证据存储中）。注册请求已写入 {output}：请交给机构签发。",
        "en": "device {device_id}: keys made in {generation} (outside the store). Enrolment request written to "
              "{output}: give it to the agency.",
    },
    "installed": {
        "zh-CN": "设备 {device_id} 已安装机构配置包：机构 CA {pin}…，设备证书有效期至 {cert_until}，坞站 {dock}；"
                 "配置包有效期至 {not_after}。",
        "en": "device {device_id}: the agency's bundle is installed: agency CA {pin}…, device certificate valid "
              "until {cert_until}, dock {dock}; bundle valid until {not_after}.",
    },
}


def message(name: str, language: str, **values) -> str:
    return MESSAGES[name][language].format(**values)
